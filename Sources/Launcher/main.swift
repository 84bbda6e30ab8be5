print("gentrain")
