"""OpenRTB 2.6 on the wire: models, codec, validation, macros, money conversion.

Pure protocol code: no HTTP, no Redis, no auction logic. Everything else in the
project imports from here; this package imports nothing of the project.
"""
