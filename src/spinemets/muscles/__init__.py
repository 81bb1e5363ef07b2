"""spinemets.muscles"""
