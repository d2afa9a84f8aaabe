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
        from terminals.desk_selectors import card_records

        kiosk.transactions_reader = card_records
