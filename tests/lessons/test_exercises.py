"""exercises.attempt: the learner's function is called; errors and None become messages, never raises."""

from contrastlab.lessons.exercises import attempt


def test_a_finished_function_returns_its_result(capsys):
    assert attempt(lambda a, b=0: a + b, 2, b=3) == (True, 5)
    assert capsys.readouterr().out == ""


def test_an_unfinished_function_says_so(capsys):
    assert attempt(lambda: None, name="my_loss") == (False, None)
    assert capsys.readouterr().out == "Not done yet: my_loss returns None. Fill in its body (a solution is below).\n"


def test_an_error_is_reported_not_raised(capsys):
    def broken(x):
        return x @ x.T

    assert attempt(broken, [1, 2]) == (False, None)
    assert capsys.readouterr().out == "Not yet: your function raised AttributeError: 'list' object has no attribute 'T'\n"


def test_falsy_results_other_than_none_count_as_answers():
    assert attempt(lambda: 0) == (True, 0)
    assert attempt(lambda: False) == (True, False)
