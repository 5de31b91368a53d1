"""Pretraining: masking, data, learning-rate schedule, checkpoints, the loop and distributed launch."""
