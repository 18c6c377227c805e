import FlowProto
import FlowSampler
import FlowTensor
import Foundation

/// Running one assignment: validation (an Error reply for one this worker cannot run), the program cache, and the
/// compute actor whose pipe brings the outcome back to the control loop.
extension Worker {
    /// What a shard's compute actor produced.
    enum Outcome {
        case result([UInt8])
        case failure(Flowturbo_V1_Error)
    }

    /// Takes the compute actor's outcome (waiting for it when `wait`) and stops the actor; nil when none is running
    /// or (without `wait`) the outcome is not there yet.
    func takeOutcome(wait: Bool = false) -> Outcome? {
        guard let actor = compute, let frames = try? actor.pipe.receive(dontWait: !wait) else { return nil }
        actor.stop()
        compute = nil
        guard frames.count == 2 else { return nil }
        if frames[0] == [1] { return .result(frames[1]) }
        return .failure((try? Flowturbo_V1_Error(serializedBytes: frames[1])) ?? Flowturbo_V1_Error())
    }

    /// Waits for a running shard to finish, then hands a finished result to the aggregator.
    func waitForCompute() {
        if case .result(let r)? = takeOutcome(wait: true) { pendingSend = r }
        if let r = pendingSend, let p = push {
            try? p.send(r, dontWait: true)
            pendingSend = nil
        }
    }

    func reject(_ a: Flowturbo_V1_ShardAssignment, _ message: String, fatal: Bool) -> Flowturbo_V1_Error {
        var e = Flowturbo_V1_Error()
        e.workerID = config.workerID
        e.shardID = a.shardID
        e.leaseID = a.leaseID
        e.message = message
        e.fatal = fatal
        return e
    }

    /// Validates an assignment and starts the compute thread; returns the Error reply of one it cannot run.
    func start(_ a: Flowturbo_V1_ShardAssignment) throws -> Flowturbo_V1_Error? {
        guard a.protocolVersion == UInt32(Flowturbo_V1_ProtocolVersion.current.rawValue) else {
            return reject(
                a,
                "protocol version \(a.protocolVersion) unsupported (worker speaks "
                    + "\(Flowturbo_V1_ProtocolVersion.current.rawValue))",
                fatal: true)
        }
        let held = Dictionary(backend.models.map { ($0.role, $0) }, uniquingKeysWith: { x, _ in x })
        for m in a.models {
            guard let h = held[m.role] else {
                return reject(
                    a,
                    "assignment needs a \(m.role) (\(m.spec)) but this worker holds none; "
                        + "start it with the same \(Setting.model)/\(Setting.refiner)",
                    fatal: true)
            }
            if h.sha256 != m.sha256 {
                return reject(
                    a,
                    "model digest mismatch for \(m.role): assignment \(m.spec)@\(m.sha256.prefix(12)), "
                        + "worker \(h.spec)@\(h.sha256.prefix(12))",
                    fatal: true)
            }
        }
        if !a.evalSet.prompts.isEmpty && !backend.hasTextConditioning {
            return reject(a, "the model has no text conditioning; prompt files need a text model", fatal: true)
        }
        // Bounds keep a malformed assignment from overflowing index arithmetic or allocating without limit.
        let n = Int(exactly: a.count) ?? -1
        let batch = Int(a.batch)
        let first = Int(exactly: a.firstIndex) ?? -1
        let promptsOK = a.evalSet.prompts.isEmpty || a.evalSet.prompts.count == n
        guard n > 0, n <= 1 << 22, batch > 0, batch <= 1 << 16, first >= 0, first <= Int(Int32.max),
            a.labels.count == n, promptsOK
        else {
            return reject(
                a,
                "malformed assignment (first \(a.firstIndex), count \(a.count), batch \(batch), "
                    + "\(a.labels.count) labels, \(a.evalSet.prompts.count) prompts)", fatal: false)
        }
        if let p = try? Plan.parse(a.plan), p.steps > config.maxPlanSteps {
            return reject(
                a, "plan \(a.plan) has \(p.steps) steps, over this worker's limit of \(config.maxPlanSteps)",
                fatal: true)
        }
        let step = a.refinerStep.isEmpty ? "heun" : a.refinerStep
        let key = "\(a.plan)|\(batch)|\(a.guidanceScale)|\(a.guidanceChannels)|\(step)"
        let program: ShardProgram
        if let p = programs[key] {
            program = p
        } else {
            do {
                program = try backend.makeProgram(
                    plan: a.plan, batch: batch, guidanceScale: a.guidanceScale,
                    guidanceChannels: Int(a.guidanceChannels), refinerStep: step)
            } catch { return reject(a, "cannot compile plan \"\(a.plan)\": \(error)", fatal: true) }
            programs[key] = program
        }
        currentShard = a.shardID
        let workerID = config.workerID
        let delay = config.batchDelayMs
        let poison = config.injectNonFinite
        let queueWait = max(0, Date().timeIntervalSince(lastWorkRequest))
        let backend = self.backend
        compute = try ZMQActor(context: context, name: "compute") { pipe in
            var outcome: [[UInt8]]
            do {
                let bytes = try Worker.compute(
                    a, program: program, workerID: workerID, batchDelayMs: delay,
                    poison: poison, queueWaitSeconds: queueWait,
                    captions: { try backend.captions(for: $0) })
                outcome = [[1], bytes]
            } catch {
                var e = Flowturbo_V1_Error()
                e.workerID = workerID
                e.shardID = a.shardID
                e.leaseID = a.leaseID
                e.message = "cannot encode the shard's prompts: \(error)"
                outcome = [[0], (try? e.serializedBytes()) ?? []]
            }
            try? pipe.send(outcome)
            // Stay until the control loop took the outcome and stops the actor: closing the pipe with the outcome
            // still in it would drop it.
            while let ready = try? ZMQPoll.readable([pipe], timeoutMs: -1) {
                if ready[0] && ZMQActor.terminated(pipe) { return }
            }
        }
        summary.shards += 1
        summary.samples += n
        return nil
    }
}
