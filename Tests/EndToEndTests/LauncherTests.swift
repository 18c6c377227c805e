import FlowTestSupport
import Foundation
import XCTest

/// Validates the launchers in `Cluster/` without a cluster: shell syntax (`bash -n`), `#SBATCH`
/// directives, Kubernetes YAML (PyYAML), that every `flowturbo coordinator|worker` flag they use
/// exists in the real binary's `--help`, and a real small run through `Cluster/ssh/launch.sh`
/// with a stand-in `SSH` that runs the remote command on this machine.
final class LauncherTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let scripts = [
        "Cluster/ssh/launch.sh", "Cluster/slurm/flowturbo.sbatch", "Scripts/netns-multihost.sh",
        "Scripts/slurm-localhost.sh",
    ]
    static let launchers = [
        "Cluster/ssh/launch.sh", "Cluster/slurm/flowturbo.sbatch",
        "Cluster/kubernetes/coordinator.yaml", "Cluster/kubernetes/workers.yaml",
    ]

    /// The `flowturbo` executable next to the test bundle, if built.
    static var binary: String? { TestEnvironment.binary }

    /// Runs a program; returns exit status and combined stdout+stderr.
    @discardableResult
    static func run(_ exe: String, _ args: [String], env: [String: String] = [:]) throws -> (Int32, String) {
        try TestEnvironment.run(exe, args, env: env)
    }

    static func text(_ rel: String) throws -> String { try String(contentsOfFile: root + "/" + rel, encoding: .utf8) }

    func testScriptsPassBashSyntaxCheck() throws {
        for s in Self.scripts {
            let (status, out) = try Self.run("/bin/bash", ["-n", Self.root + "/" + s])
            XCTAssertEqual(status, 0, "\(s): \(out)")
        }
        // The checker itself rejects a broken script.
        let bad = NSTemporaryDirectory() + "launcher-bad-\(getpid()).sh"
        try "if true; then echo x\n".write(toFile: bad, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: bad) }
        XCTAssertNotEqual(try Self.run("/bin/bash", ["-n", bad]).0, 0)
    }

    /// `#SBATCH` lines: only before the first command (Slurm stops reading them there), `--name[=value]`
    /// with known names and well-formed values; requeue enabled and a journal check that adds --resume.
    func testSbatchDirectivesWellFormed() throws {
        let lines = try Self.text("Cluster/slurm/flowturbo.sbatch").split(
            separator: "\n", omittingEmptySubsequences: false)
        XCTAssertTrue(lines.first?.hasPrefix("#!") ?? false, "sbatch scripts need a shebang line")
        let known: Set<String> = [
            "job-name", "nodes", "ntasks-per-node", "cpus-per-task", "time", "requeue", "open-mode",
            "output", "error", "partition", "mem", "account", "ntasks", "exclusive",
        ]
        var directives: [String: String] = [:]
        var inHeader = true
        for line in lines.dropFirst() {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("#SBATCH") {
                XCTAssertTrue(inHeader, "#SBATCH after the first command is ignored by Slurm: \(t)")
                let body = t.dropFirst("#SBATCH".count).trimmingCharacters(in: .whitespaces)
                XCTAssertTrue(body.hasPrefix("--"), "directive must be a long option: \(t)")
                let parts = body.dropFirst(2).split(separator: "=", maxSplits: 1).map(String.init)
                XCTAssertTrue(known.contains(parts[0]), "unknown #SBATCH option \(parts[0])")
                XCTAssertNil(directives[parts[0]], "duplicate #SBATCH --\(parts[0])")
                directives[parts[0]] = parts.count > 1 ? parts[1] : ""
            } else if !t.isEmpty && !t.hasPrefix("#") {
                inHeader = false
            }
        }
        for key in ["nodes", "ntasks-per-node", "cpus-per-task"] {
            XCTAssertGreaterThan(Int(directives[key] ?? "") ?? 0, 0, "--\(key) must be a positive integer")
        }
        let time = directives["time"] ?? ""
        XCTAssertNotNil(
            time.range(of: #"^(\d+-)?\d{1,2}:\d{2}:\d{2}$"#, options: .regularExpression), "bad --time \(time)")
        XCTAssertNotNil(directives["requeue"], "the job must be requeueable")
        XCTAssertTrue(["append", "truncate"].contains(directives["open-mode"] ?? "append"))
        let script = try Self.text("Cluster/slurm/flowturbo.sbatch")
        XCTAssertTrue(
            script.contains("journal.log") && script.contains("--resume"), "a requeued job must continue with --resume")
    }

    /// All documents of the manifests, through PyYAML (JSON on stdout).
    func manifests() throws -> [[String: Any]] {
        let dir = Self.root + "/Cluster/kubernetes/"
        let files = ["output-pvc.yaml", "coordinator.yaml", "workers.yaml", "kustomization.yaml"].map { dir + $0 }
        let code =
            "import sys, json, yaml\nprint(json.dumps([d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d]))"
        let (status, out): (Int32, String)
        do { (status, out) = try Self.run("/usr/bin/env", ["python3", "-c", code] + files) } catch {
            print("LauncherTests: skipping YAML checks: cannot run python3 (\(error))")
            throw XCTSkip("python3 not available")
        }
        if status != 0 && out.contains("No module named") {
            print("LauncherTests: skipping YAML checks: PyYAML is not installed (pip install pyyaml)")
            throw XCTSkip("PyYAML not installed")
        }
        XCTAssertEqual(status, 0, out)
        return try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]] ?? []
    }

    func testKubernetesManifestsParseAndAgree() throws {
        let docs = try manifests()
        func doc(_ kind: String) -> [String: Any]? { docs.first { $0["kind"] as? String == kind } }
        func dict(_ any: Any?, _ path: String...) -> Any? {
            var v = any
            for k in path { v = (v as? [String: Any])?[k] }
            return v
        }
        XCTAssertEqual(
            Set(docs.compactMap { $0["kind"] as? String }),
            ["PersistentVolumeClaim", "Deployment", "Service", "Job", "Kustomization"])
        let deploy = try XCTUnwrap(doc("Deployment"))
        let service = try XCTUnwrap(doc("Service"))
        let job = try XCTUnwrap(doc("Job"))
        let pvc = try XCTUnwrap(doc("PersistentVolumeClaim"))
        XCTAssertEqual(dict(deploy, "spec", "replicas") as? Int, 1)
        XCTAssertEqual(
            dict(deploy, "spec", "strategy", "type") as? String, "Recreate",
            "two coordinators must never share a journal")
        XCTAssertEqual(dict(job, "spec", "completionMode") as? String, "Indexed")
        // Service selects the coordinator pods and exposes control + data ports.
        let podLabels = dict(deploy, "spec", "template", "metadata", "labels") as? [String: String] ?? [:]
        let selector = dict(service, "spec", "selector") as? [String: String] ?? [:]
        XCTAssertFalse(selector.isEmpty)
        for (k, v) in selector {
            XCTAssertEqual(podLabels[k], v, "Service selector \(k) does not match the coordinator pod")
        }
        for (k, v) in dict(deploy, "spec", "selector", "matchLabels") as? [String: String] ?? [:] {
            XCTAssertEqual(podLabels[k], v, "Deployment selector \(k) does not match its pod template")
        }
        let ports = (dict(service, "spec", "ports") as? [[String: Any]] ?? []).compactMap { $0["port"] as? Int }
            .sorted()
        // The coordinator's --bind / --data-bind ports and the workers' --connect target match the Service.
        let container = (dict(deploy, "spec", "template", "spec", "containers") as? [[String: Any]])?.first ?? [:]
        let coordScript = (container["args"] as? [String] ?? []).joined(separator: "\n")
        let control = try XCTUnwrap(Int(Self.capture(#"--bind tcp://\*:(\d+)"#, coordScript) ?? ""))
        let data = try XCTUnwrap(Int(Self.capture(#"--data-bind tcp://\*:(\d+)"#, coordScript) ?? ""))
        XCTAssertEqual(ports, [control, data].sorted())
        XCTAssertEqual(
            data, control + 1, "workers derive the data port from the control port's host; keep data = control + 1")
        let wContainer = (dict(job, "spec", "template", "spec", "containers") as? [[String: Any]])?.first ?? [:]
        let workerScript = (wContainer["args"] as? [String] ?? []).joined(separator: "\n")
        let serviceName = try XCTUnwrap(dict(service, "metadata", "name") as? String)
        XCTAssertEqual(Self.capture(#"--connect tcp://([^\s:]+):"#, workerScript), serviceName)
        XCTAssertEqual(Int(Self.capture(#"--connect tcp://[^\s:]+:(\d+)"#, workerScript) ?? ""), control)
        XCTAssertEqual(
            Self.capture(#"--model (\S+)"#, workerScript), Self.capture(#"--model (\S+)"#, coordScript),
            "workers must hold the coordinator's model")
        // The run directory lives on the PVC.
        let volumes = dict(deploy, "spec", "template", "spec", "volumes") as? [[String: Any]] ?? []
        let claim = volumes.compactMap { dict($0, "persistentVolumeClaim", "claimName") as? String }.first
        XCTAssertEqual(claim, dict(pvc, "metadata", "name") as? String)
        let mount = ((container["volumeMounts"] as? [[String: Any]])?.first?["mountPath"] as? String) ?? "?"
        let out = try XCTUnwrap(Self.capture(#"--out (\S+)"#, coordScript))
        XCTAssertTrue(out.hasPrefix(mount + "/"), "--out \(out) must be on the volume mounted at \(mount)")
        XCTAssertTrue(coordScript.contains(out + "/journal.log") && coordScript.contains("--resume"))
    }

    /// First capture group of `pattern` in `text`.
    static func capture(_ pattern: String, _ text: String) -> String? {
        guard let re = try? NSRegularExpression(pattern: pattern),
            let m = re.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)), m.numberOfRanges > 1,
            let r = Range(m.range(at: 1), in: text)
        else { return nil }
        return String(text[r])
    }

    /// `flowturbo coordinator|worker` invocations in a launcher: subcommand → flags used.
    static func invocations(_ text: String) -> [(String, [String])] {
        let code = text.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("#") }.joined(separator: "\n")
        let joined = code.replacingOccurrences(of: "\\\n", with: " ")
        let re = try! NSRegularExpression(
            pattern: #"(?:\bflowturbo|\$\{?[A-Z_]*FLOWTURBO[A-Z_]*\}?)[")]*\s+(coordinator|worker)\b([^\n;&|]*)"#)
        let flag = try! NSRegularExpression(pattern: #"(?<![\w-])--[a-z][a-z0-9-]*"#)
        var found: [(String, [String])] = re.matches(in: joined, range: NSRange(joined.startIndex..., in: joined)).map {
            m in
            let sub = String(joined[Range(m.range(at: 1), in: joined)!])
            let rest = String(joined[Range(m.range(at: 2), in: joined)!])
            let flags = flag.matches(in: rest, range: NSRange(rest.startIndex..., in: rest)).map {
                String(rest[Range($0.range, in: rest)!])
            }
            return (sub, flags)
        }
        // Flag arrays spliced into the invocations: COORD_SEC=(…) → coordinator, WORKER_SEC=(…) → worker.
        let arrays = try! NSRegularExpression(pattern: #"\b(COORD|WORKER)_SEC=\(([^)]*)\)"#)
        for m in arrays.matches(in: joined, range: NSRange(joined.startIndex..., in: joined)) {
            let sub = joined[Range(m.range(at: 1), in: joined)!] == "COORD" ? "coordinator" : "worker"
            let body = String(joined[Range(m.range(at: 2), in: joined)!])
            let flags = flag.matches(in: body, range: NSRange(body.startIndex..., in: body)).map {
                String(body[Range($0.range, in: body)!])
            }
            if !flags.isEmpty { found.append((sub, flags)) }
        }
        return found
    }

    func testLauncherFlagsExistInFlowturboHelp() throws {
        guard let bin = Self.binary else {
            throw XCTSkip("flowturbo binary not built next to the tests; run `swift build` first")
        }
        var helpFlags: [String: Set<String>] = [:]
        for sub in ["coordinator", "worker"] {
            let (status, help) = try Self.run(bin, [sub, "--help"])
            XCTAssertEqual(status, 0, help)
            let re = try NSRegularExpression(pattern: #"--[a-z][a-z0-9-]*"#)
            helpFlags[sub] = Set(
                re.matches(in: help, range: NSRange(help.startIndex..., in: help)).map {
                    String(help[Range($0.range, in: help)!])
                })
        }
        XCTAssertFalse(helpFlags["worker"]!.contains("--samples"), "help parsing must distinguish the commands")
        for file in Self.launchers {
            let found = Self.invocations(try Self.text(file))
            XCTAssertFalse(found.isEmpty, "\(file): no flowturbo coordinator/worker invocation found")
            for (sub, flags) in found {
                XCTAssertFalse(flags.isEmpty, "\(file): \(sub) invocation without flags")
                for f in flags {
                    XCTAssertTrue(
                        helpFlags[sub]!.contains(f), "\(file): `flowturbo \(sub) \(f)` is not a flag of the real binary"
                    )
                }
            }
        }
        // The extractor sees a wrong flag (so the check above can fail).
        XCTAssertEqual(Self.invocations("\"$FLOWTURBO\" worker --conect x").first?.1, ["--conect"])
        XCTAssertEqual(Self.invocations("COORD_SEC=(--curve-secrt k)").first?.1, ["--curve-secrt"])
        // The key flags of the Slurm script are among the checked ones.
        let slurm = Self.invocations(try Self.text("Cluster/slurm/flowturbo.sbatch")).flatMap { $0.1 }
        XCTAssertTrue(slurm.contains("--curve-server-key") && slurm.contains("--allow"), "\(slurm)")
    }

    /// Two free TCP ports p, p+1 on loopback.
    static func freePortPair() -> Int { TestEnvironment.freePortPair() }

    /// launch.sh with a stand-in ssh (runs the remote command locally) and CurveZMQ keys: the run
    /// completes with the workers of every host in the hosts file, and its samples tile the index range.
    /// Each host gets its own key pair: the coordinator allows exactly those public keys, and every ssh
    /// session receives only its own host's secret (installed with mode 0600).
    func testSSHLauncherCompletesRunWithStandInSSH() throws {
        guard let bin = Self.binary else {
            throw XCTSkip("flowturbo binary not built next to the tests; run `swift build` first")
        }
        let d = NSTemporaryDirectory() + "launcher-ssh-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: d) }
        // Records each session's host and stdin (what the host was handed), then runs the command here.
        try "#!/bin/sh\nhost=$1; shift\nd=$(dirname \"$0\")\necho \"$host\" >> \"$d/ssh-hosts\"\n"
            .appending("cat > \"$d/stdin-$host\"\nexec /bin/sh -c \"$*\" < \"$d/stdin-$host\"\n")
            .write(toFile: d + "/fakessh", atomically: true, encoding: .utf8)
        chmod(d + "/fakessh", 0o755)
        try "# test hosts\nhostA 1\n\nhostB 2\n".write(toFile: d + "/hosts", atomically: true, encoding: .utf8)
        let port = Self.freePortPair()
        XCTAssertEqual(try Self.run(bin, ["keys", "generate", "--out", d + "/keys"]).0, 0)
        let (status, out) = try Self.run(
            "/bin/bash",
            [
                Self.root + "/Cluster/ssh/launch.sh", "--hosts", d + "/hosts", "--coordinator-host", "127.0.0.1",
                "--bind-address", "127.0.0.1", "--port", String(port), "--keys", d + "/keys", "--",
                "--model", "gmm:synthetic", "--samples", "96", "--batch", "8", "--shard-size", "8", "--plan", "H8",
                "--quiet", "--out", d + "/run",
            ],
            env: [
                "SSH": d + "/fakessh", "FLOWTURBO": bin,
                "WORKER_EXTRA_ARGS": "--batch-delay-ms 100 --give-up-seconds 20",
                "REMOTE_KEYS": d + "/remote",
            ])
        XCTAssertEqual(status, 0, out)
        try checkPerHostKeys(d, hosts: ["hostA", "hostB"], binary: bin)
        // launch.sh starts the hosts' ssh sessions in the background, so they may log in either order.
        let sshHosts = try String(contentsOfFile: d + "/ssh-hosts", encoding: .utf8).split(separator: "\n").map(
            String.init)
        XCTAssertEqual(sshHosts.sorted(), ["hostA", "hostB"], "one ssh session per host in the hosts file")
        let report =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: d + "/run/report.json")))
            as? [String: Any]
        let cluster = report?["cluster"] as? [String: Any]
        XCTAssertEqual(
            cluster?["workers_seen"] as? Int, 3, "1 worker on hostA + 2 on hostB: \(String(describing: cluster))")
        XCTAssertEqual(cluster?["auth_rejected"] as? Int, 0, "every launched worker holds an allowed key")
        let manifest =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: d + "/run/manifest.json")))
            as? [String: Any]
        let shards = (manifest?["shards"] as? [[String: Any]] ?? []).sorted {
            ($0["first"] as? Int ?? 0) < ($1["first"] as? Int ?? 0)
        }
        var next = 0
        for s in shards {
            XCTAssertEqual(s["first"] as? Int, next)
            next += s["count"] as? Int ?? 0
        }
        XCTAssertEqual(next, 96)
    }

    /// Key lines (no comments) of a key file.
    static func keyLines(_ path: String) throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    /// Per-host keys of a launch.sh run in `d` (keys in d/keys, stand-in ssh stdin in d/stdin-HOST, remote d/remote).
    func checkPerHostKeys(_ d: String, hosts: [String], binary: String) throws {
        var publics: [String] = []
        for h in hosts {
            let secret = d + "/keys/hosts/\(h).key"
            let pub = try XCTUnwrap(Self.keyLines(d + "/keys/hosts/\(h).pub").first)
            // The public key really belongs to the host's secret (derived independently by `keys public`).
            let (st, derived) = try Self.run(binary, ["keys", "public", secret])
            XCTAssertEqual(st, 0, derived)
            XCTAssertEqual(derived.trimmingCharacters(in: .whitespacesAndNewlines), pub)
            publics.append(pub)
            // The session of host h received exactly its own secret file, nothing else.
            XCTAssertEqual(
                try String(contentsOfFile: d + "/stdin-\(h)", encoding: .utf8),
                try String(contentsOfFile: secret, encoding: .utf8), "\(h) must receive its own secret")
            let installed = d + "/remote/\(h).key"
            XCTAssertEqual(try Self.keyLines(installed), try Self.keyLines(secret))
            for f in [secret, installed] {
                let mode = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: f)[.posixPermissions] as? Int)
                XCTAssertEqual(mode & 0o777, 0o600, "\(f) must be private")
            }
        }
        XCTAssertEqual(Set(publics).count, hosts.count, "every host needs its own key pair")
        XCTAssertEqual(
            try Self.keyLines(d + "/keys/allow").sorted(), publics.sorted(),
            "the coordinator allows exactly the hosts' keys (not the shared worker.pub)")
        XCTAssertFalse(try Self.keyLines(d + "/keys/allow").contains(try Self.keyLines(d + "/keys/worker.pub")[0]))
        XCTAssertEqual(try Self.keyLines(d + "/remote/coordinator.pub"), try Self.keyLines(d + "/keys/coordinator.pub"))
    }
}
