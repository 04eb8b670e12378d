"""Review and approval: which records need a person's decision, and the gates that release a package."""
