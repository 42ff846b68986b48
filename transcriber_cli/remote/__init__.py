"""The client side of remote mode: submit a batch, tail its jobs, fetch their outputs."""
