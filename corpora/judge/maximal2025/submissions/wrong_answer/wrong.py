print('Forty-Two')
