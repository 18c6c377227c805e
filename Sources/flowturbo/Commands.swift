import ArgumentParser

/// Every subcommand of `flowturbo`, in help order. Each command lives in its own file;
/// add one line here per command.
enum CommandRegistry {
    static let all: [ParsableCommand.Type] = [
        InspectCommand.self,
        ForwardCommand.self,
        SampleCommand.self,
        FitGMMCommand.self,
        BenchCommand.self,
        TrainCommand.self,
        TrainRefinerCommand.self,
        TrainT2ICommand.self,
        TrainT2IRefinerCommand.self,
        TrainClassifierCommand.self,
        TrainSlotClassifierCommand.self,
        ClassifyCommand.self,
        RunCommand.self,
        CoordinatorCommand.self,
        MergeCommand.self,
        WorkerCommand.self,
        VerifyCommand.self,
        ExportCommand.self,
        StatsCommand.self,
        FuzzCommand.self,
        KeysCommand.self,
        TextCommand.self,
    ]
}
