from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeskConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "desk"
    verbose_name = _("Card centre desk")

    def ready(self):
        # The kiosk (accounts, the bottom layer) lists a holder's card transactions, which live in
        # terminals/; the top layer hands it the reader, so accounts still imports nothing of ours.
        from accounts.kiosk import services as kiosk
        from terminals.selectors import card_records

        kiosk.transactions_reader = card_records
        _audit_words()


def _audit_words() -> None:
    """The audit log (accounts) shows codes other apps write into its details in words."""
    from accounts.admin_views import audit_value_labels_add
    from campuscard.api.models import Scope
    from merchants.models import Merchant, MerchantUser
    from terminals.models import Terminal

    audit_value_labels_add("role", MerchantUser.Role.choices)
    audit_value_labels_add("scopes", Scope.choices)
    for key in ("old", "new", "status"):
        audit_value_labels_add(key, Merchant.Status.choices)
        audit_value_labels_add(key, Terminal.Status.choices)
