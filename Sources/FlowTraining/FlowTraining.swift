// FlowTraining: see README code map.
