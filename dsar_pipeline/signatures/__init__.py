"""Identity evidence: eID-signed request containers (ASiC-E, XAdES-LT), certificates, revocation,
and the verdict that binds a request to the person who signed it."""
