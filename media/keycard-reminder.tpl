{{.Site}}
{{if .Room}}房间 Room {{.Room}}    {{end}}{{.Date}} {{.Time}}
--------------------------------
防范电信诈骗 温馨提示
陌生来电要求转账到“安全账户”，一定是诈骗。
公安机关不会通过电话办案、要求转账。
BEWARE OF PHONE SCAMS
Police and banks never ask you to move money
to a "safe account" by phone.
反诈热线 Anti-fraud hotline: {{.Hotline}}
--------------------------------
