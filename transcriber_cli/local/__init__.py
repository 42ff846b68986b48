"""The in-process runner: a batch of inputs transcribed on this machine."""
