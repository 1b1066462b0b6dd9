from util import *

func()
