"""The response package: export, report, letter, recordings, manifest, encryption, delivery."""
