防范电信诈骗 温馨提示
{{.Site}}  {{.Date}} {{.Time}}
陌生来电要求转账到“安全账户”，一定是诈骗。
公安机关不会通过电话办案、要求转账。
Police and banks never ask you to move money by phone.
反诈热线 Anti-fraud hotline: {{.Hotline}}
