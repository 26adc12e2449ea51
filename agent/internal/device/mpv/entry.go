package mpv

import "encoding/json"

// entryID reads loadfile's reply data, {"playlist_entry_id": N} (mpv ≥
// 0.33; 0 when absent, and the first start-file is taken instead).
func entryID(data json.RawMessage) int64 {
	var v struct {
		ID int64 `json:"playlist_entry_id"`
	}
	if json.Unmarshal(data, &v) != nil {
		return 0
	}
	return v.ID
}
