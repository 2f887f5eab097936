"""Route modules: each handler parses, makes one service call and serialises."""
