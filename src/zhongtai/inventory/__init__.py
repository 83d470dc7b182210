"""Inventory centre (库存通): locations, one stock ledger, balances, receipts, adjustments."""
