from zhongtai.cli import app

app()
