package web

import (
	"embed"
	"io/fs"
)

// dist holds the browser runtime and styles built by `npm run build`
// (esbuild) from web/src. The .gitkeep keeps the directory embeddable in a
// fresh clone; New refuses to start without the built files.
//
//go:embed all:assets/dist
var dist embed.FS

func assets() (fs.FS, error) {
	sub, err := fs.Sub(dist, "assets/dist")
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"app.js", "app.css"} {
		if _, err := fs.Stat(sub, name); err != nil {
			return nil, errAssetsMissing
		}
	}
	return sub, nil
}
