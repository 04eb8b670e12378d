"""Delivery: the package uploaded, the link by e-mail, the passphrase by SMS, status callbacks to the helpdesk."""
