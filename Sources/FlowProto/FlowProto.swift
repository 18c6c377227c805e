// FlowProto: see README code map.

@_exported import SwiftProtobuf
