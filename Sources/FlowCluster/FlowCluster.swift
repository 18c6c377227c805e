// FlowCluster: see README code map.
