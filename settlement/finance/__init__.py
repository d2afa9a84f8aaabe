"""The finance desk (财务结算): statements to approve and pay, the department settlement report,
daily close reports, payout lists and the special accounts' movements. Pages call the settlement
services and reports; the services check each permission again."""
