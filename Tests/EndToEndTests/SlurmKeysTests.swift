import Foundation
import XCTest

/// `Cluster/slurm/flowturbo.sbatch` on two stand-in nodes: a fake `srun` runs each step's tasks on this
/// machine with `SLURMD_NODENAME` set per node (and, like the real one, takes its task count from the job's
/// `SLURM_NTASKS` unless the step passes `--ntasks`), a fake `scontrol` expands the node list. The nodes are
/// 127.0.0.1 and 127.0.0.2, so the workers really connect to the head node's address. The real Slurm runs in
/// `SlurmLocalhostTests` (one node); this one checks what needs two: a key pair per node, both public keys
/// and nothing else on the coordinator's allow list, one worker per core of every node, secrets removed.
final class SlurmKeysTests: XCTestCase {
    static let fakeSrun = """
        #!/bin/bash
        # Stand-in srun: the step's tasks run here, node names from FAKE_NODES, one log line per task.
        nodes=1 ntasks="" per=1 list=""
        while [[ $1 == --* ]]; do
            case $1 in
                --nodes=*) nodes=${1#*=} ;;
                --ntasks=*) ntasks=${1#*=} ;;
                --ntasks-per-node=*) per=${1#*=} ;;
                --nodelist=*) list=${1#*=} ;;
            esac
            shift
        done
        read -r -a all <<< "$FAKE_NODES"
        if [ -n "$list" ]; then IFS=, read -r -a sel <<< "$list"; else sel=("${all[@]:0:$nodes}"); fi
        ntasks=${ntasks:-${SLURM_NTASKS:-$((${#sel[@]} * per))}}
        pids=() id=0
        for n in "${sel[@]}"; do
            for ((k = 0; k < per && id < ntasks; k++)); do
                echo "$n|$id|$2|${3%%$'\\n'*}" >> "$FAKE_LOG"
                SLURMD_NODENAME=$n SLURM_PROCID=$id "$@" &
                pids+=("$!")
                id=$((id + 1))
            done
        done
        rc=0
        for p in "${pids[@]}"; do wait "$p" || rc=$?; done
        exit $rc
        """

    func testTwoNodesGetTheirOwnKeysAndTheAllowListHoldsExactlyBoth() throws {
        guard let bin = LauncherTests.binary else {
            throw XCTSkip("flowturbo binary not built next to the tests; run `swift build` first")
        }
        let d = NSTemporaryDirectory() + "slurm-keys-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: d + "/bin", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: d) }
        try Self.fakeSrun.write(toFile: d + "/bin/srun", atomically: true, encoding: .utf8)
        try "#!/bin/sh\necho \"$3\" | tr , '\\n'\n".write(
            toFile: d + "/bin/scontrol", atomically: true, encoding: .utf8)
        for f in ["srun", "scontrol"] { chmod(d + "/bin/" + f, 0o755) }
        // Leftovers of an earlier allocation must not stay on the allow list.
        try FileManager.default.createDirectory(atPath: d + "/keys/job-4242", withIntermediateDirectories: true)
        XCTAssertEqual(
            try LauncherTests.run(bin, ["keys", "generate", "--out", d + "/keys/job-4242", "--name", "old"]).0, 0)
        let nodes = ["127.0.0.1", "127.0.0.2"]
        let env = [
            "PATH": d + "/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"),
            "FAKE_NODES": nodes.joined(separator: " "), "FAKE_LOG": d + "/srun.log",
            "SLURM_JOB_ID": "4242", "SLURM_JOB_NODELIST": nodes.joined(separator: ","), "SLURM_JOB_NUM_NODES": "2",
            "SLURM_NTASKS": "2", "SLURM_CPUS_PER_TASK": "2", "FLOWTURBO": bin, "FLOWTURBO_OUT": d + "/run",
            "FLOWTURBO_KEYS": d + "/keys", "NODE_KEYS": d + "/node-keys", "PORT": String(LauncherTests.freePortPair()),
            "MODEL": "gmm:synthetic", "SAMPLES": "96", "BATCH": "8", "PLAN": "H8",
            "EXTRA_ARGS": "--shard-size 8 --quiet",
            "WORKER_EXTRA_ARGS": "--batch-delay-ms 400 --give-up-seconds 20",
        ]
        let (status, out) = try LauncherTests.run(
            "/bin/bash", [LauncherTests.root + "/Cluster/slurm/flowturbo.sbatch"], env: env)
        XCTAssertEqual(status, 0, out)
        // Allow list: exactly one public key per node (the leftover old.pub is gone), all distinct.
        let allowDir = d + "/keys/job-4242"
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: allowDir).sorted(), nodes.map { $0 + ".pub" })
        let keys = try nodes.map { try XCTUnwrap(LauncherTests.keyLines(allowDir + "/\($0).pub").first) }
        XCTAssertEqual(Set(keys).count, 2, "each node needs its own key pair")
        // Tasks per step (node|task|argument 2|first line of argument 3): the key step and the cleanup once on
        // each node, the coordinator once on the head node, the workers once per core on each node (2 × 2).
        let log = try String(contentsOfFile: d + "/srun.log", encoding: .utf8).split(separator: "\n").map(String.init)
        func nodesOf(_ marker: String) -> [String] {
            log.filter { $0.contains(marker) }.map { String($0.split(separator: "|")[0]) }.sorted()
        }
        XCTAssertEqual(nodesOf("|set -e"), nodes, "\(log)")
        XCTAssertEqual(nodesOf("|rm -f"), nodes, "\(log)")
        XCTAssertEqual(nodesOf("|coordinator|"), ["127.0.0.1"], "\(log)")
        XCTAssertEqual(nodesOf("\" worker "), nodes.flatMap { [$0, $0] }, "\(log)")
        let report = try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: d + "/run/report.json")))
        let cluster = (report as? [String: Any])?["cluster"] as? [String: Any]
        XCTAssertEqual(
            cluster?["workers_seen"] as? Int, 4, "one worker per core on both nodes: \(String(describing: cluster))")
        XCTAssertEqual(cluster?["auth_rejected"] as? Int, 0, "every node's workers hold an allowed key")
        // The nodes' secrets were for this run only.
        let left = (try? FileManager.default.contentsOfDirectory(atPath: d + "/node-keys")) ?? []
        XCTAssertEqual(left, [], "node secret keys must be removed after the run")
    }
}
