"""Reads of the terminals app, one module per thing read: params, batches, registry, records,
revenue, exceptions, pending. Callers import from here (`terminals.selectors.<name>`)."""

from .batches import posting_lag, recollect_for, unposted_batch_ids  # noqa: F401
from .exceptions import (  # noqa: F401
    card_flags_by_id,
    merchant_duplicate_suspects,
    open_card_flags,
    open_exceptions_by_kind,
    open_other_exceptions,
    open_record_exceptions,
    record_duplicate_original,
    records_suspected_duplicate,
    records_with_problems,
)
from .params import DEFAULT_RATE, Params, offline_until, params_version, rate_at, terminal_params  # noqa: F401
from .pending import PendingLookup, pending_lookup  # noqa: F401
from .records import (  # noqa: F401
    LIVE,
    PURCHASE,
    SETTLED,
    SHARE,
    card_records,
    day_record_groups,
    days_filled,
    merchant_records,
    purchases_by_hour,
    record_get,
    records_by_id,
    records_daily,
    records_on_day,
    terminal_deposit_list,
    terminal_deposits,
)
from .registry import (  # noqa: F401
    day_terminal_health,
    merchant_terminal_ids,
    terminal_locations,
    terminals_active_count,
    terminals_needing_attention,
)
from .revenue import (  # noqa: F401
    merchant_revenue_by_day,
    merchant_revenue_by_day_and_terminal,
    merchant_revenue_by_month,
    merchant_revenue_by_terminal,
)
