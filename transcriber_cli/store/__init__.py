"""The job store: one MongoDB document per remote job (state, progress and pointers), typed
with pydantic, read and written only through ``JobStore``."""
