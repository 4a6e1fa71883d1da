package dashboard

// Summary is a dashboard without its charts, for listings.
type Summary struct {
	ID          string
	OrgID       string
	Title       string
	Description string
	Charts      int
}

// Layout is a dashboard's charts in grid order, with its layout version,
// which every addition, removal, move and resize moves on. It is the one
// form of a layout everywhere: the store's, the HTTP API's, and the room's
// activity events (the browser's Layout in web/src/protocol.ts mirrors it).
type Layout struct {
	Version int    `json:"version"`
	Charts  []Slot `json:"charts"`
}

// Slot is one chart's place in a layout: its id, its width, and its title
// as the dashboard shows it. In a request that changes a layout, only the
// id and the width count.
type Slot struct {
	ID    string `json:"id"`
	Width int    `json:"width"`
	Title string `json:"title"`
}

// Edit is a user's saved chart edit that can be undone.
type Edit struct {
	ID      int64
	ChartID string
	// ToVersion is the version the edit made; Before the definition it
	// replaced.
	ToVersion int
	Before    Chart
}

// VersionedChart is a chart's new definition and the version of the one
// it replaces, as a save names it.
type VersionedChart struct {
	Chart   Chart
	Version int
}
