"""The versioned REST API for connected subsystems and integrations (R-SUB-1)."""
