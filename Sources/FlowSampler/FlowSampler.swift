// FlowSampler: see README code map.
