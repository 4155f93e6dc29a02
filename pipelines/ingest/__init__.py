"""Loading landed files into the warehouse: the input contract, readers, validation and the ledger."""
