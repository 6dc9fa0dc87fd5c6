"""msgspec Structs: the one description of every request and response payload.

Field names are snake_case on the wire. Nothing here imports from backend.
"""
