"""Product centre (商品通): categories, brands, products (SPU), SKUs, barcodes, listing."""
