"""Container formats the customer opens: AES-256 ZIP (WinZip AE-2) and CDOC 2.0 for ID-card holders."""
