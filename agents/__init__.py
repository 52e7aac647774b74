"""The exchange as an Agentic RTB Framework (ARTF) host: agent services called over gRPC."""
