package api

// identified is what every resource the API returns has: an id. A decoded resource without one (the
// body was `null`, `{}` or another object) is not what the server was asked for.
type identified interface {
	User | Patient | ProgressNote
}

func idOf[T identified](v T) int64 {
	switch v := any(v).(type) {
	case User:
		return v.Id
	case Patient:
		return v.Id
	case ProgressNote:
		return v.Id
	}
	return 0
}

func withID[T identified](v T, err error) (T, error) {
	if err == nil && idOf(v) == 0 {
		var zero T
		return zero, badResponse("the answer has no id")
	}
	return v, err
}
