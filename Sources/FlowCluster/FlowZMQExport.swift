// The ZeroMQ layer (sockets, poll, actor, CURVE keys, ZAP) is its own target; everything that uses the cluster
// sees it through FlowCluster.
@_exported import FlowZMQ
