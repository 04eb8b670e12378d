"""The retention rules a source can be tagged with; controller profiles give each its period."""

RULES: dict[str, str] = {
    "customer_relationship": "customer and contact data, counted from the end of the last contract",
    "contract": "contracts and metering points, counted from the contract's end",
    "accounting": "invoices and payments, counted from the document date",
    "debt": "debts and collection steps, counted from the debt's settlement or start",
    "credit_check": "credit checks and automated decisions, counted from the check",
    "call_recording": "call recordings, chat transcripts and their metadata, counted from the call",
    "volt_signup": "unfinished Volt sign-ups, counted from the start of the sign-up",
    "app_account": "Volt app data, counted from the record's date",
    "portal_activity": "portal login history and cookie-consent records, counted from the event",
    "consent": "consents and preferences, counted from when they were recorded",
    "correspondence": "messages and documents, counted from when they were sent",
    "metering_data": "consumption and production readings, counted from the interval",
}
