import FlowCluster
import FlowModels
import FlowSampler
import FlowStats
import FlowTensor

/// The run use cases behind `flowturbo run`, `coordinator` and `merge`: turning a request into a resolved run
/// (defaults, checks, the directory lock, starting over), configuring the coordinator, and finishing a run
/// (manifest, part record or report). Front ends parse, call one of these and print.
public enum RunApplication {
    /// How a finished run was written up.
    public enum Finish {
        /// One part of a coordinator-free run: its record is written; the report waits for the merge.
        case part(RunPart, shards: Int)
        /// A whole run: the report's Markdown and, when requested, the samples.npz written.
        case report(markdown: String, npz: String?)
    }

    /// Checks the feature space of the report's reference before any sample is computed (the report maps the sets
    /// at the end, too late to learn that the space cannot work).
    public static func checkFeatures(_ r: ReportRequest) throws {
        guard r.features != "raw" else { return }
        guard r.reference != nil, r.reference != ReportRequest.none else {
            throw RunSettingError.needs(.features, value: r.features, requires: .reference)
        }
        if r.features == "random-projection" {
            guard r.projectionDimension >= 1 else {
                throw RunSettingError.belowOne(.projectionDimension, value: r.projectionDimension)
            }
            return
        }
        guard let path = FeatureSpaces.classifierPath(r.features) else {
            throw RunSettingError.unknownFeatureSpace(r.features)
        }
        guard FileIO.exists(path) else { throw RunSettingError.classifierMissing(features: r.features, path: path) }
    }

    /// Model, refiner, plan, R-step shape and guidance after the defaults rule (`ModelDefaults.resolve`).
    public static func resolve(_ r: RunRequest) throws -> ResolvedSampling {
        try ModelDefaults.resolve(
            model: r.model, refiner: r.refiner, plan: r.plan, refinerStep: r.refinerStep?.rawValue,
            guidance: r.guidance, text: r.prompts != nil)
    }

    /// The resolved run: defaults filled in, contradictions refused, the run directory locked for this process and,
    /// with `overwrite`, the previous run in it deleted.
    public static func prepare(_ r: RunRequest) throws -> RunSpec {
        try checkFeatures(r.report)
        let resolved = try resolve(r)
        var s = RunSpec(model: resolved.model, refiner: resolved.refiner, plan: resolved.plan, outDir: r.out)
        s.samples = r.samples
        s.guidanceScale = resolved.guidance
        s.guidanceChannels = r.guidanceChannels
        s.batch = r.batch
        s.seed = r.seed
        s.refinerStep = resolved.refinerStep
        s.labelMode = r.labels
        s.promptFile = r.prompts
        s.shardSize = r.shardSize
        s.resume = r.resume
        s.part = try r.part.map { try RunPart(parsing: $0) }
        if s.part != nil && r.exportNPZ { throw RunSettingError.wholeRunOnly(.exportNPZ) }
        guard r.imagesPerPrompt >= 1 else { throw RunSettingError.belowOne(.imagesPerPrompt, value: r.imagesPerPrompt) }
        if r.imagesPerPrompt != 1 && r.prompts == nil {
            throw RunSettingError.needs(.imagesPerPrompt, value: String(r.imagesPerPrompt), requires: .prompts)
        }
        s.imagesPerPrompt = r.imagesPerPrompt
        s.textEncoder = r.textEncoder
        if r.overwrite && r.resume { throw RunSettingError.conflicting(.overwrite, .resume) }
        try RunDirectory.lock(r.out)
        if r.overwrite { RunDirectory.removeRun(r.out) }
        return s
    }

    /// Applies the request's limits, lease time and progress settings to a coordinator configuration.
    public static func configure(_ c: inout CoordinatorConfig, _ r: RunRequest) throws {
        guard r.maxMessageMB >= 1, r.maxShardMB >= 1, r.maxInFlight >= 1 else { throw RunSettingError.limitBelowOne }
        c.maxControlMessageBytes = Int64(r.maxMessageMB) << 20
        c.maxControlFrameBytes = min(c.maxControlFrameBytes, r.maxMessageMB << 20)
        c.maxShardBytes = r.maxShardMB << 20
        c.maxInFlightPerWorker = r.maxInFlight
        guard r.audit.isFinite, r.audit >= 0, r.audit <= 1 else { throw RunSettingError.auditFraction(r.audit) }
        c.auditFraction = r.audit
        guard r.progressInterval.isFinite, r.progressInterval > 0 else {
            throw RunSettingError.progressInterval(r.progressInterval)
        }
        c.progressInterval = r.progressInterval
        c.progress = !r.quiet
        c.leaseSeconds = r.leaseSeconds
    }

    /// Writes what a completed run leaves behind: the manifest, then either a part's record or the report (quality
    /// figures against the requested or default reference, class agreement or prompt adherence) and samples.npz.
    public static func finish(
        spec: RunSpec, summary: CoordinatorSummary, workers: Int, report: ReportRequest,
        exportNPZ: Bool
    ) throws -> Finish {
        let outDir = spec.outDir
        try RunOutput.writeManifest(outDir: outDir)
        if let part = spec.part {
            // A part's report would describe a fraction of the set: the merged run directory gets the one report.
            try RunMerge.writePartRecord(outDir: outDir, part: part, summary: summary, workers: workers)
            return .part(part, shards: summary.shards)
        }
        let ref = QualityDefaults.reference(report, spec: spec)
        let features = ref?.features ?? "raw"
        let map: ((StatsSet, String) throws -> StatsSet)? =
            features == "raw"
            ? nil
            : { set, path in
                try FeatureSpaces.apply(
                    features, to: set, path: path, projectionDimension: report.projectionDimension,
                    seed: report.featureSeed)
            }
        let quality = QualityDefaults.classAgreement(report, spec: spec) ?? AdherenceDefaults.scorer(report, spec: spec)
        let md = try RunOutput.writeReport(
            outDir: outDir, summary: summary, workers: workers, reference: ref?.path,
            featureName: features, features: map, quality: quality)
        let npz = exportNPZ ? try RunOutput.exportNPZ(outDir: outDir) : nil
        return .report(markdown: md, npz: npz)
    }

    /// The run spec `merge` reports with: the merged header's predictor, plan and sample count, and the merged
    /// prompt file of prompt runs (so the report applies the same defaults as the parts' run would have).
    public static func mergedSpec(header h: RunHeader, out: String) -> RunSpec {
        let predictor = h.models.first { $0.hasPrefix("predictor=") } ?? h.models.first ?? ""
        let modelSpec = String(predictor.drop { $0 != "=" }.dropFirst().prefix { $0 != "@" })
        var spec = RunSpec(model: modelSpec, refiner: nil, plan: h.plan, outDir: out)
        spec.samples = h.samples
        spec.promptFile = RunIntegrity.isPromptRun(h) ? RunDirectory.promptsPath(out) : nil
        return spec
    }
}
