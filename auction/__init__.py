"""Auction mechanisms as pure functions over plain data: no I/O of any kind."""
