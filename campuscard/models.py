from .api.models import ApiClient  # noqa: F401  (campuscard's only table)
