package cache

import (
	"strconv"
	"time"
)

var zeroTime time.Time

func itoa(n int) string { return strconv.Itoa(n) }
