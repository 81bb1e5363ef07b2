"""spinemets.report"""
