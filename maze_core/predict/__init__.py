"""MaLearn: the online execution-time predictor."""
