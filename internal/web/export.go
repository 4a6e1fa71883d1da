package web

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/ashreports/ashreports/internal/access"
)

// apiExport downloads a chart's data as CSV, a header row of column names
// and a row per data row: GET /api/v1/charts/{id}/export.csv. It needs
// the export_data permission (analyst and up).
func (s *server) apiExport(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.authorizeChart(r, access.ExportData, id); err != nil {
		writeError(w, err)
		return
	}
	st, _, err := s.Charts.State(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.csv"`, strings.NewReplacer(`"`, "", "\\", "", "/", "").Replace(id)))
	cw := csv.NewWriter(w)
	header := make([]string, len(st.Data.Columns))
	for i, c := range st.Data.Columns {
		header[i] = csvValue(c.Name)
	}
	_ = cw.Write(header)
	rec := make([]string, len(header))
	for _, row := range st.Data.Rows {
		for i := range rec {
			rec[i] = ""
			if i < len(row) {
				rec[i] = csvValue(row[i])
			}
		}
		_ = cw.Write(rec)
	}
	cw.Flush()
}

// csvValue writes a cell: numbers in their shortest exact form, null as
// an empty cell. A text that a spreadsheet would run as a formula gets a
// leading apostrophe (CSV injection).
func csvValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case string:
		if x != "" && strings.ContainsRune("=+-@\t\r", rune(x[0])) {
			return "'" + x
		}
		return x
	}
	return fmt.Sprint(v)
}
