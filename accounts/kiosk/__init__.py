"""The self-service kiosk (自助挂失): a cardholder queries cards and balance and reports a card
lost (R-LOSS-1). Public, touch-first; no staff login."""
