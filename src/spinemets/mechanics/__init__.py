"""spinemets.mechanics"""
