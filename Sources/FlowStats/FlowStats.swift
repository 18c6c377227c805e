// FlowStats: see README code map.
