package store_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/store"
)

func TestHistoryAppendsInOrder(t *testing.T) {
	st := openStore(t, store.Options{})
	newSession(t, st, "s", "/a")
	newSession(t, st, "other", "/a")

	history, err := st.History("s")
	require.NoError(t, err)
	assert.Empty(t, history)

	m := func(s string) json.RawMessage { return json.RawMessage(s) }
	require.NoError(t, st.AppendHistory("s", m(`{"role":"system","content":"be brief"}`), m(`{"role":"user","content":"hi"}`)))
	require.NoError(t, st.AppendHistory("other", m(`{"role":"user","content":"elsewhere"}`)))
	require.NoError(t, st.AppendHistory("s", m(`{"role":"assistant","content":"hello"}`)))

	history, err = st.History("s")
	require.NoError(t, err)
	assert.Equal(t, []json.RawMessage{
		m(`{"role":"system","content":"be brief"}`),
		m(`{"role":"user","content":"hi"}`),
		m(`{"role":"assistant","content":"hello"}`),
	}, history)

	err = st.AppendHistory("s", m(`{"role":"user"}`), m(`{not json`))
	require.Error(t, err)
	history, err = st.History("s")
	require.NoError(t, err)
	assert.Len(t, history, 3, "a failed append adds nothing")

	require.ErrorIs(t, st.AppendHistory("nobody", m(`{}`)), store.ErrNotFound)
	_, err = st.History("nobody")
	require.ErrorIs(t, err, store.ErrNotFound)

	require.NoError(t, st.Delete("s"))
	assert.Zero(t, count(t, rawDB(t, st.Path()), `SELECT count(*) FROM history WHERE session_id = 's'`))
	history, err = st.History("other")
	require.NoError(t, err)
	assert.Len(t, history, 1)
}
